package local.runner.thrift;

import java.util.Set;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.RuntimeReplaceable;
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import scala.collection.Iterator;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Refuses an analyzed plan unless it only reads: a query, or a listing of namespaces, tables,
 * views, columns or functions, or {@code USE}.
 *
 * <p>Commands are allowed by name (everything else, DDL, {@code INSERT}, {@code SET}, {@code ADD
 * JAR}, {@code CACHE}, is refused before it runs); inside queries, {@code TRANSFORM ... USING}
 * (runs a program) and {@code reflect}/{@code java_method} (call any static Java method) are
 * refused too.
 */
final class ReadOnlyCheck extends AbstractFunction1<LogicalPlan, BoxedUnit> {
  private static final Set<String> LISTINGS =
      Set.of(
          "ShowNamespaces",
          "ShowNamespacesCommand",
          "ShowTables",
          "ShowTablesCommand",
          "ShowTableExtended",
          "ShowViews",
          "ShowViewsCommand",
          "ShowColumns",
          "ShowColumnsCommand",
          "ShowFunctions",
          "ShowFunctionsCommand",
          "ShowPartitions",
          "ShowPartitionsCommand",
          "ShowCurrentNamespace",
          "ShowCurrentNamespaceCommand",
          "ShowCatalogs",
          "ShowCatalogsCommand",
          "DescribeRelation",
          "DescribeTableCommand",
          "DescribeColumn",
          "DescribeColumnCommand",
          "DescribeNamespace",
          "DescribeDatabaseCommand",
          "DescribeFunction",
          "DescribeFunctionCommand",
          "SetCatalogAndNamespace",
          "SetNamespaceCommand");
  private static final Set<String> REFUSED_IN_QUERIES =
      Set.of("ScriptTransformation");
  private static final Set<String> REFUSED_EXPRESSIONS =
      Set.of("CallMethodViaReflection", "TryReflect");

  @Override
  public BoxedUnit apply(LogicalPlan plan) {
    checkPlan(plan);
    return BoxedUnit.UNIT;
  }

  private static void checkPlan(LogicalPlan plan) {
    String name = plan.getClass().getSimpleName();
    if (plan instanceof Command && !LISTINGS.contains(name)) {
      throw refuse(plan.nodeName());
    }
    if (REFUSED_IN_QUERIES.contains(name)) {
      throw refuse(plan.nodeName());
    }
    Iterator<Expression> expressions = plan.expressions().iterator();
    while (expressions.hasNext()) {
      checkExpression(expressions.next());
    }
    Iterator<LogicalPlan> children = plan.children().iterator();
    while (children.hasNext()) {
      checkPlan(children.next());
    }
  }

  private static void checkExpression(Expression expression) {
    if (REFUSED_EXPRESSIONS.contains(expression.getClass().getSimpleName())) {
      throw refuse(expression.prettyName());
    }
    if (expression instanceof SubqueryExpression) {
      checkPlan(((SubqueryExpression) expression).plan());
    }
    if (expression instanceof RuntimeReplaceable) {
      checkExpression(((RuntimeReplaceable) expression).replacement());
    }
    Iterator<Expression> children = expression.children().iterator();
    while (children.hasNext()) {
      checkExpression(children.next());
    }
  }

  private static SecurityException refuse(String what) {
    return new SecurityException("this Thrift server is read-only: " + what + " is not allowed");
  }
}
